mod augment;
mod folder;
mod idx;
mod inspect;
mod loader;
mod mnistm;
mod office31;
mod preprocess;
