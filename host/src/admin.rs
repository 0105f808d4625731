//! Provisional (replaced by the full admin command).
pub fn run_passwd(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("imapd passwd is not available in this build")
}
