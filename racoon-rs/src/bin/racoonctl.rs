fn main() {
    std::process::exit(racoon_rs::ctl::main_with(std::env::args_os()));
}
