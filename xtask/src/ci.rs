//! `cargo xtask ci`: every step CI runs, in order, then one summary with a
//! ✅/❌ per step, its wall time, and the command that reruns a failed step.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run every step even after one fails.
    #[arg(long)]
    pub keep_going: bool,
}

/// One CI step: a name and the exact command line that runs it.
struct Step {
    name: &'static str,
    argv: Vec<String>,
}

fn steps(ws: &Workspace) -> Vec<Step> {
    let dist = ws.target_dir.join("dist");
    let dist = dist.to_string_lossy();
    let step = |name, argv: &[&str]| Step {
        name,
        argv: argv.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        step("fmt", &["cargo", "fmt", "--all", "--check"]),
        step("clippy", &["cargo", "xtask", "clippy"]),
        step("test", &["cargo", "test"]),
        step(
            "build",
            &[
                "cargo",
                "xtask",
                "build",
                "--target",
                "all",
                "--profile",
                "all",
            ],
        ),
        step("qemu", &["cargo", "xtask", "qemu"]),
        step("size-check", &["cargo", "xtask", "size-check"]),
        step("release", &["cargo", "xtask", "release", "--out", &dist]),
        step(
            "release-verify",
            &["cargo", "xtask", "release", "--verify", &dist],
        ),
    ]
}

struct Outcome {
    name: &'static str,
    command: String,
    passed: bool,
    duration: Duration,
}

pub fn run(args: Args) -> Result<()> {
    let ws = Workspace::load()?;
    let mut outcomes = Vec::new();
    for step in steps(&ws) {
        let command = step.argv.join(" ");
        println!("==> {}: {command}", step.name);
        let start = Instant::now();
        let status = Command::new(&step.argv[0])
            .args(&step.argv[1..])
            .current_dir(&ws.root)
            .status()
            .with_context(|| format!("cannot run `{command}`"))?;
        let passed = status.success();
        outcomes.push(Outcome {
            name: step.name,
            command,
            passed,
            duration: start.elapsed(),
        });
        if !passed && !args.keep_going {
            break;
        }
    }
    print_summary(&outcomes);
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    if !failed.is_empty() {
        bail!("ci failed at: {}", failed.join(", "));
    }
    Ok(())
}

fn print_summary(outcomes: &[Outcome]) {
    println!("\n{:<3} {:<16} {:>9}", "", "step", "time");
    for o in outcomes {
        let mark = if o.passed { "✅" } else { "❌" };
        println!("{mark}  {:<16} {:>8.1}s", o.name, o.duration.as_secs_f64());
    }
    for o in outcomes.iter().filter(|o| !o.passed) {
        println!("rerun {}: {}", o.name, o.command);
    }
}

/// Installs the workflow and Dockerfile linters for `setup --lint`.
pub fn setup_lint(_ws: &Workspace) -> Result<()> {
    bail!("`setup --lint` is not implemented yet")
}
