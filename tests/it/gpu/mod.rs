mod generated_shaders;
mod runtime;
