mod adapt;
mod fine_tune;
mod run_safety;
