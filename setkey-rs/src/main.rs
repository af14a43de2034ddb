fn main() {
    eprintln!("setkey: not implemented yet");
    std::process::exit(1);
}
