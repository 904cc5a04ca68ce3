//! Which TCP ports a process listens on, from `/proc/net/tcp{,6}` and the process's open
//! sockets (for `wait --port` and a service's `ready.port`).

use std::collections::HashSet;

/// Socket inodes in the LISTEN state on local TCP port `port` (IPv4 and IPv6).
pub fn listening_inodes(port: u16) -> HashSet<u64> {
    let mut out = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            out.extend(parse_listeners(&text, port));
        }
    }
    out
}

/// The LISTEN sockets on `port` in one `/proc/net/tcp`-format table.
fn parse_listeners(text: &str, port: u16) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            // State 0A is TCP_LISTEN.
            (p == port && *f.get(3)? == "0A")
                .then(|| f.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether process `pid` holds one of `inodes` open.
pub fn holds_socket(pid: i32, inodes: &HashSet<u64>) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|l| {
            l.to_str()
                .and_then(|s| s.strip_prefix("socket:["))
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| inodes.contains(&n))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listeners_of_a_port() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 23456 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 34567 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(parse_listeners(t, 8080), [12345]);
        assert_eq!(parse_listeners(t, 8081), [34567]);
        assert!(parse_listeners(t, 80).is_empty());
    }

    #[test]
    fn finds_our_own_listening_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let inodes = listening_inodes(port);
        assert!(!inodes.is_empty());
        assert!(holds_socket(std::process::id() as i32, &inodes));
        drop(l);
        assert!(!holds_socket(
            std::process::id() as i32,
            &listening_inodes(port)
        ));
    }
}
