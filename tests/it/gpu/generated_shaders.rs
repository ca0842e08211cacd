//! The generated kernels (wgsl-gen, written to OUT_DIR by build.rs) have, line for line, the
//! WGSL of the files that were committed before the generator moved to Rust, or, for kernels
//! born in the generator (batch norm, vec4 element-wise), the code recorded when they were
//! added (comment lines aside: their headers now name the generator and the registry ids; `wgsl-gen/kernels.fnv`
//! holds size and FNV-1a of each file's code), and they are what the engine runs: every one is
//! in the built-in shader set with exactly that source, and no hand-written file shadows one.
//! Every shader's header names its kernel: a registered id whose files include it, or — for a
//! helper several kernels share (packers, reductions) — `<folder>.<file stem>`.
use std::collections::BTreeMap;

/// The WGSL of a file without its comment lines (each kept line with its newline).
fn code(source: &str) -> String {
    source
        .split('\n')
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn expected() -> BTreeMap<String, (usize, u64)> {
    include_str!("../../../wgsl-gen/kernels.fnv")
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
fn generated_kernels_have_the_committed_code_line_for_line() {
    let want = expected();
    assert_eq!(want.len(), 65);
    let generated = dak_wgsl_gen::generated();
    let mut got = BTreeMap::new();
    for g in &generated {
        let c = code(&g.source);
        let old = got.insert(g.path.clone(), (c.len(), fnv1a(c.as_bytes())));
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

#[test]
fn every_shader_header_names_a_registered_kernel_or_its_own_helper_name() {
    let kernels = dak::kernels::all();
    let mut wrong = Vec::new();
    for (file, source) in dak::gpu::BUILTIN_SHADERS {
        let first = source.lines().next().unwrap_or_default();
        let id: String = first
            .trim_start_matches("//")
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let owners: Vec<&str> = kernels
            .iter()
            .filter(|k| k.files().contains(file))
            .map(|k| k.id)
            .collect();
        let own_name = file.trim_end_matches(".wgsl").replacen('/', ".", 1);
        let ok = owners.contains(&id.as_str()) || (!owners.is_empty() && id == own_name);
        // Shaders outside the kernel registry (benchmark roofs) name themselves.
        let unregistered_ok = owners.is_empty() && id == own_name;
        if !(ok || unregistered_ok) {
            wrong.push(format!(
                "{file}: header `{id}`, registered under {owners:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "headers that name no kernel:\n{}",
        wrong.join("\n")
    );
}
