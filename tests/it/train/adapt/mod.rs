mod compare;
mod fit;
mod methods;
mod selection;
mod source_free;
