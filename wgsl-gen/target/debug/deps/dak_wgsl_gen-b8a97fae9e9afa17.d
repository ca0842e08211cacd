/work/main/wgsl-gen/target/debug/deps/dak_wgsl_gen-b8a97fae9e9afa17.d: src/lib.rs src/conv2d.rs src/conv2d_sgbc.rs src/conv2d_tex.rs src/conv2d_tex_fwd.rs src/conv2d_tex_uniform.rs src/conv2d_tex_wgrad.rs src/conv2d_tiled.rs src/matmul_sgbc.rs src/sgbc_block.rs src/text.rs

/work/main/wgsl-gen/target/debug/deps/libdak_wgsl_gen-b8a97fae9e9afa17.rmeta: src/lib.rs src/conv2d.rs src/conv2d_sgbc.rs src/conv2d_tex.rs src/conv2d_tex_fwd.rs src/conv2d_tex_uniform.rs src/conv2d_tex_wgrad.rs src/conv2d_tiled.rs src/matmul_sgbc.rs src/sgbc_block.rs src/text.rs

src/lib.rs:
src/conv2d.rs:
src/conv2d_sgbc.rs:
src/conv2d_tex.rs:
src/conv2d_tex_fwd.rs:
src/conv2d_tex_uniform.rs:
src/conv2d_tex_wgrad.rs:
src/conv2d_tiled.rs:
src/matmul_sgbc.rs:
src/sgbc_block.rs:
src/text.rs:
