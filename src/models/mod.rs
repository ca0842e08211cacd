//! Models built on the layers: VGG16, the transfer-learning classifier, DANN; and dak's model file.
pub mod classifier;
pub mod dann;
pub mod dann_vgg;
pub mod file;
pub mod imagenet;
pub mod vgg16;
