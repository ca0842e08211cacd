mod file_safety;
mod flags;
mod json;
mod polish;
mod resnet;
