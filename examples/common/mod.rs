//! Command-line flags of the examples: `--name value` pairs with defaults, nothing more.

use std::str::FromStr;

/// The value after `--name` in `args`, parsed, or `default` when the flag is absent.
pub fn flag<T: FromStr>(args: &[String], name: &str, default: T) -> dak::Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let value = args
                .get(i + 1)
                .ok_or_else(|| dak::Error::input(format!("{name} needs a value")))?;
            value
                .parse()
                .map_err(|_| dak::Error::input(format!("{name} {value}: not a valid value")))
        }
    }
}

/// Errors on a flag that is not in `known` (every flag takes a value).
pub fn check_flags(args: &[String], known: &[&str]) -> dak::Result<()> {
    for pair in args.chunks(2) {
        if !known.contains(&pair[0].as_str()) {
            return Err(dak::Error::input(format!(
                "unknown flag `{}`; this example takes {}",
                pair[0],
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Runs an example's `run` on the process arguments; errors print as one line.
pub fn main_with(run: fn(&[String]) -> dak::Result<()>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
