fn main() {
    std::process::exit(racoon_rs::cli::main_with(std::env::args_os()));
}
