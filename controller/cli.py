def main():
    raise SystemExit("roomctl: CLI under construction")
