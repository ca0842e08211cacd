mod adapt;
mod fine_tune;
mod resume;
mod run_safety;
