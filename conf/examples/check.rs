//! Parse a racoon.conf (with includes) and print its diagnostics: `cargo run -p conf --example check FILE`.
fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: check FILE");
        std::process::exit(2);
    };
    match conf::load(std::path::Path::new(&path)) {
        Ok(p) => {
            eprint!("{}", p.warnings.render());
            println!(
                "ok: {} remotes, {} sainfos",
                p.config.remotes.len(),
                p.config.sainfos.len()
            );
        }
        Err(d) => {
            eprint!("{}", d.render());
            std::process::exit(1);
        }
    }
}
