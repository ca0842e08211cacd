mod dann_vgg;
mod imagenet;
mod resnet;
mod vgg16;
