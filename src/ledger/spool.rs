//! The spool: a JSON Lines file beside the ledger database (`<ledger>.spool.jsonl`) that holds rows
//! the database could not take (locked, full, broken) or the channel could not queue (overload).
//! The writer replays it into the database as soon as a write succeeds again, and at start. Rows
//! are only lost if the spool itself cannot be written, and then they are counted as dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::LedgerRecord;

#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    /// Serialises appends against the replay's read-and-truncate.
    lock: Mutex<()>,
}

impl Spool {
    #[cfg(test)]
    pub(crate) fn beside(ledger: &Path) -> Spool {
        Spool::at(Self::default_path(ledger))
    }

    pub(crate) fn at(path: PathBuf) -> Spool {
        Spool {
            path,
            lock: Mutex::new(()),
        }
    }

    /// `<ledger>.spool.jsonl`, the spool of a SQLite ledger unless the config names another.
    pub(crate) fn default_path(ledger: &Path) -> PathBuf {
        let mut name = ledger.as_os_str().to_owned();
        name.push(".spool.jsonl");
        PathBuf::from(name)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends rows; returns how many were written (all, or none on an I/O error).
    pub(crate) fn append<'a>(&self, rows: impl IntoIterator<Item = &'a LedgerRecord>) -> std::io::Result<usize> {
        let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut text = String::new();
        let mut n = 0;
        for row in rows {
            text.push_str(&serde_json::to_string(row).map_err(std::io::Error::other)?);
            text.push('\n');
            n += 1;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        Ok(n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0)
    }

    /// Takes every spooled row out of the file (which is emptied). A line that does not parse is
    /// kept aside in `<spool>.bad` rather than lost.
    pub(crate) fn take(&self) -> std::io::Result<Vec<LedgerRecord>> {
        let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut rows = Vec::new();
        let mut bad = String::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<LedgerRecord>(&line) {
                Ok(row) => rows.push(row),
                Err(_) => {
                    bad.push_str(&line);
                    bad.push('\n');
                }
            }
        }
        if !bad.is_empty() {
            let mut name = self.path.as_os_str().to_owned();
            name.push(".bad");
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(PathBuf::from(name))?
                .write_all(bad.as_bytes())?;
        }
        File::create(&self.path)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::beside(&dir.path().join("ledger.sqlite"));
        assert!(spool.is_empty());
        let rows: Vec<LedgerRecord> = (0..3)
            .map(|i| LedgerRecord {
                request_id: format!("r{i}"),
                ..Default::default()
            })
            .collect();
        assert_eq!(spool.append(&rows).unwrap(), 3);
        assert!(!spool.is_empty());
        let back = spool.take().unwrap();
        assert_eq!(back, rows);
        assert!(spool.is_empty());
        assert!(spool.take().unwrap().is_empty());
    }
}
