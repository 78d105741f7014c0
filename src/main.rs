fn main() -> std::process::ExitCode {
    lumbar::cli::run()
}
