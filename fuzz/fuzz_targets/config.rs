//! Any text as a config file: the two-stage load (serde, then validation with regex compilation and
//! reference checks) must return a config or errors that name keys, never panic.
#![no_main]

use ecoroute::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|toml: &str| {
    let path = std::path::Path::new("fuzz.toml");
    let _ = Config::from_toml_str(toml, path, &|_| None);
});
