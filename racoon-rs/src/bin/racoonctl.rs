fn main() {
    eprintln!("racoonctl: not implemented yet");
    std::process::exit(1);
}
