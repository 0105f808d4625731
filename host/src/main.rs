// Throwaway entry point so the config/auth modules compile and their tests run on the
// `hostcfg` branch. The lead replaces this file when wiring the modules in.
#![allow(dead_code)]

mod admin;
mod config;
mod passwd;
mod saslauthd;

fn main() {}
