"""Network devices judged by reachability: video conference terminals, servers."""
