fn main() {
    eprintln!("ipsecd: not implemented yet");
    std::process::exit(1);
}
