//! The container image carries every file the shipped config reads at start. No container runtime
//! runs in CI, so this reads the Dockerfile: each folder the config names (its corpus, its language
//! packs) must be copied into the build stage and into `/app` of the final image.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The top folder of every relative path the shipped config reads when `serve` starts.
fn folders_the_config_reads() -> Vec<String> {
    let config: toml::Value = toml::from_str(&read("config/ecoroute.toml")).unwrap();
    let search = &config["search"];
    let mut folders = vec![];
    let top = |p: &str| p.split('/').next().unwrap().to_string();
    folders.push(top(search["corpus"].as_str().unwrap()));
    let languages = search
        .get("languages")
        .and_then(|l| l.as_array())
        .map_or(0, |l| l.len());
    if languages > 0 {
        let dir = search.get("language_dir").and_then(|d| d.as_str()).unwrap_or("lang");
        folders.push(top(dir));
        // Each pack names its own corpus.
        for code in search["languages"].as_array().unwrap() {
            let pack: toml::Value = toml::from_str(&read(&format!("{dir}/{}.toml", code.as_str().unwrap()))).unwrap();
            if let Some(corpus) = pack.get("corpus").and_then(|c| c.as_str()) {
                folders.push(top(corpus));
            }
        }
    }
    folders.sort();
    folders.dedup();
    folders
}

#[test]
fn the_image_copies_every_folder_the_shipped_config_reads() {
    let dockerfile = read("Dockerfile");
    let folders = folders_the_config_reads();
    assert!(folders.contains(&"lang".to_string()), "{folders:?}");
    for folder in folders {
        assert!(
            dockerfile
                .lines()
                .any(|l| l.trim() == format!("COPY {folder} {folder}")),
            "the build stage lacks `COPY {folder} {folder}`"
        );
        assert!(
            dockerfile
                .lines()
                .any(|l| l.starts_with("COPY --from=build") && l.trim_end().ends_with(&format!(" /app/{folder}"))),
            "the final image lacks /app/{folder}"
        );
    }
}
