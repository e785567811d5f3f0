//! ZIM archives as `index build` reads them. An input is either a whole archive as bytes (first
//! byte 0x80 or more), or a recipe the fuzzer can explore faster: a codec byte (none, xz, zstd),
//! articles `path\0title\0html` separated by 0x01, then after a 0x02 byte patches of three bytes
//! (offset u16, xor) applied to the well-formed archive built from them. Corrupt headers, entries,
//! clusters and blob tables, decompression bombs and any HTML must give documents or an error,
//! never a panic, and no lead over its limit.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use ecoroute::search::ingest::fuzzing;
use libfuzzer_sys::fuzz_target;

/// The reader reads a file: one per fuzzing process, rewritten for every input, in memory where
/// there is a tmpfs (on ext4, truncating and rewriting it held the target to 250 inputs/s).
static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    dir.join(format!("ecoroute-fuzz-{}.zim", std::process::id()))
});

fn archive(data: &[u8]) -> Vec<u8> {
    let Some((&codec, rest)) = data.split_first() else {
        return Vec::new();
    };
    if codec >= 0x80 {
        return rest.to_vec();
    }
    let (recipe, patches) = match rest.iter().position(|&b| b == 2) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let texts: Vec<(String, String, &[u8])> = recipe
        .split(|&b| b == 1)
        .map(|article| {
            let mut parts = article.splitn(3, |&b| b == 0);
            let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let title = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            (path, title, parts.next().unwrap_or_default())
        })
        .collect();
    let articles: Vec<(&str, &str, &[u8])> = texts.iter().map(|(p, t, h)| (p.as_str(), t.as_str(), *h)).collect();
    let mut zim = compress(fuzzing::tiny_zim(&articles, 0), codec % 3).unwrap_or_default();
    if !zim.is_empty() {
        for patch in patches.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % zim.len();
            zim[at] ^= patch[2];
        }
    }
    zim
}

/// The stored archive's one cluster compressed by `codec` (1 xz, 2 zstd) at the fastest level:
/// `tiny_zim`'s own xz level takes milliseconds to set up, which held the target to 300 inputs/s.
fn compress(mut zim: Vec<u8>, codec: u8) -> Option<Vec<u8>> {
    if codec == 0 {
        return Some(zim);
    }
    let u64_at = |zim: &[u8], at: usize| Some(u64::from_le_bytes(zim.get(at..at + 8)?.try_into().ok()?));
    let cluster_ptr_pos = usize::try_from(u64_at(&zim, 48)?).ok()?;
    let cluster = usize::try_from(u64_at(&zim, cluster_ptr_pos)?).ok()?;
    let data = zim.get(cluster + 1..zim.len().checked_sub(16)?)?.to_vec();
    let (info, packed) = if codec == 1 {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut liblzma::read::XzEncoder::new(&data[..], 0), &mut out).ok()?;
        (4, out)
    } else {
        (5, zstd::stream::encode_all(&data[..], 1).ok()?)
    };
    zim.truncate(cluster);
    zim.push(info);
    zim.extend_from_slice(&packed);
    let checksum_pos = zim.len() as u64;
    zim[72..80].copy_from_slice(&checksum_pos.to_le_bytes());
    zim.extend_from_slice(&[0; 16]);
    Some(zim)
}

fuzz_target!(|data: &[u8]| {
    let zim = archive(data);
    if std::fs::write(&*FILE, &zim).is_err() {
        return;
    }
    if let Ok(docs) = fuzzing::zim(&FILE) {
        for doc in docs {
            assert!(!doc.text.is_empty() && doc.text.len() <= fuzzing::MAX_LEAD_BYTES, "{}", doc.text.len());
        }
    }
});
