fn main() {
    eprintln!("racoon: not implemented yet");
    std::process::exit(1);
}
