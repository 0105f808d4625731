//! Provisional imapd.conf reader (replaced by the full one).
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

pub struct Config {
    origin: String,
    values: HashMap<String, String>,
}

fn default_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "allowplaintext" | "tls_required" => "no",
        "timeout" => "32m",
        "autologout_minimum" => "30m",
        "maxword" | "maxquoted" | "maxliteral" => "131072",
        "maxmessagesize" => "0",
        "failedloginpause" => "3s",
        "imapidlepoll" => "60s",
        "session_memory_limit" => "67108864",
        "session_cpu_limit" => "10s",
        "max_sessions" => "2000",
        "sasl_mech_list" => "PLAIN LOGIN",
        "tls_versions" => "tls1_2 tls1_3",
        _ => return None,
    })
}

impl Config {
    pub fn load(path: &Path, service: &str) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut values = HashMap::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| anyhow!("{}: missing ':'", path.display()))?;
            values.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let pre = format!("{service}_");
        let over: Vec<(String, String)> = values
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&pre).map(|k| (k.to_string(), v.clone())))
            .collect();
        values.extend(over);
        Ok(Config {
            origin: path.display().to_string(),
            values,
        })
    }
    pub fn debug_command(&self) -> Option<&str> {
        self.values.get("debug_command").map(String::as_str)
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn configdirectory(&self) -> Result<String> {
        self.values
            .get("configdirectory")
            .cloned()
            .ok_or_else(|| anyhow!("{}: configdirectory is not set", self.origin))
    }
    pub fn partition(&self, name: &str) -> Option<String> {
        self.values.get(&format!("partition-{name}")).cloned()
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| default_of(name).map(String::from))
    }
    pub fn switch(&self, name: &str) -> Result<bool> {
        let v = self.string(name).unwrap_or_default();
        Ok(matches!(v.chars().next(), Some('1' | 'y' | 't')) || v == "on")
    }
    pub fn int(&self, name: &str) -> Result<i64> {
        let v = self.string(name).unwrap_or_else(|| "0".into());
        v.parse()
            .map_err(|_| anyhow!("{}: {name}: not a number", self.origin))
    }
    pub fn list(&self, name: &str) -> Vec<String> {
        self.string(name)
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    }
    pub fn list_sep(&self, name: &str, sep: char) -> Vec<String> {
        self.string(name)
            .map(|v| {
                v.split(sep)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn duration(&self, name: &str) -> Result<Duration> {
        let v = self.string(name).unwrap_or_else(|| "0".into());
        let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
        let n: u64 = num.parse().map_err(|_| anyhow!("{name}: bad duration"))?;
        Ok(Duration::from_secs(match unit {
            "s" => n,
            "m" | "" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => bail!("bad unit"),
        }))
    }
}
