from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit code: torchrun and schedulers read it
