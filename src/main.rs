fn main() -> std::process::ExitCode {
    pidaudit::cli::main()
}
