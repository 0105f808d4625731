//! Provisional password file (replaced by the full one).
use anyhow::{Context, Result};
use std::path::PathBuf;
pub struct PasswordFile {
    path: PathBuf,
}
impl PasswordFile {
    pub fn new(path: PathBuf) -> Self {
        PasswordFile { path }
    }
    pub fn verify(&self, user: &str, password: &str) -> Result<bool> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(text
            .lines()
            .any(|l| l == format!("{user}:{{PLAIN}}{password}")))
    }
}
