//! The generated kernels (wgsl-gen, written to OUT_DIR by build.rs) are byte-identical to the
//! files that were committed before the generator moved to Rust (`wgsl-gen/kernels.fnv`: size
//! and FNV-1a hash of each), and they are what the engine runs: every one is in the built-in
//! shader set with exactly that source, and no hand-written file shadows one.
use std::collections::BTreeMap;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn expected() -> BTreeMap<String, (usize, u64)> {
    include_str!("../wgsl-gen/kernels.fnv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let hash = u64::from_str_radix(w[2], 16).unwrap();
            (w[0].to_string(), (w[1].parse().unwrap(), hash))
        })
        .collect()
}

#[test]
fn generated_kernels_are_byte_identical_to_the_committed_ones() {
    let want = expected();
    assert_eq!(want.len(), 46);
    let generated = dak_wgsl_gen::generated();
    let mut got = BTreeMap::new();
    for g in &generated {
        let old = got.insert(g.path.clone(), (g.source.len(), fnv1a(g.source.as_bytes())));
        assert!(old.is_none(), "{} generated twice", g.path);
    }
    let differ: Vec<String> = want
        .iter()
        .filter(|(p, w)| got.get(*p) != Some(w))
        .map(|(p, w)| format!("{p}: want {w:?}, generated {:?}", got.get(p)))
        .collect();
    assert!(differ.is_empty(), "kernels changed:\n{}", differ.join("\n"));
    assert_eq!(
        got.len(),
        want.len(),
        "new generated kernels: add them to kernels.fnv"
    );
}

#[test]
fn the_engine_runs_the_generated_kernels() {
    for g in dak_wgsl_gen::generated() {
        let builtin = dak::gpu::BUILTIN_SHADERS
            .iter()
            .filter(|(name, _)| *name == g.path)
            .collect::<Vec<_>>();
        assert_eq!(builtin.len(), 1, "{} once in the built-in set", g.path);
        assert_eq!(
            builtin[0].1, g.source,
            "{}: the built-in source is the generator's",
            g.path
        );
        assert!(
            !std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
                .join(&g.path)
                .exists(),
            "shaders/{} is committed again: the generator owns it",
            g.path
        );
    }
}

/// `dak kernels dump` writes generated kernels (which have no file in the tree) under their
/// registry names, and the written copy is what `--shader-dir` then overrides with.
#[test]
fn kernels_dump_writes_generated_sources_that_shader_dir_accepts() {
    let dir = std::env::temp_dir().join(format!("dak-dump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dak"))
            .args(args)
            .env(
                "MESA_SHADER_CACHE_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/mesa-shader-cache"),
            )
            .output()
            .unwrap()
    };
    let d = dir.to_str().unwrap();
    let o = run(&["kernels", "dump", "--out", d, "conv2d.fwd"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = "conv2d/fwd_igemm_n4_tex_s16.wgsl";
    let dumped = std::fs::read_to_string(dir.join(file)).unwrap();
    let generated = dak_wgsl_gen::generated();
    let g = generated.iter().find(|g| g.path == file).unwrap();
    assert_eq!(dumped, g.source);
    assert!(
        dir.join("conv2d/fwd_direct.wgsl").is_file(),
        "hand-written ones too"
    );
    let o = run(&["kernels", "check", "--shader-dir", d, "conv2d.fwd.direct"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
