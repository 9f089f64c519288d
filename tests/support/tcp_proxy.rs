//! A TCP relay to a real server that a test can take down and bring back: while down it cuts
//! every open connection and closes each new one at once, as a server that went away would.
//! It can also freeze: connections stay open and every byte either way is dropped, as on a
//! link that died without a word (no FIN, no RST).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct TcpProxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) if frozen.load(Ordering::SeqCst) => {}
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl TcpProxy {
    /// Relays a free local port to `backend` (`host:port`); runs until the test process ends.
    pub fn start(backend: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, f, o, backend) = (down.clone(), frozen.clone(), open.clone(), backend.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&backend) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                o.lock()
                    .unwrap()
                    .extend([client.try_clone().expect("clone"), server.try_clone().expect("clone")]);
                let f2 = f.clone();
                std::thread::spawn(move || pipe(client, server, f2));
                let f3 = f.clone();
                std::thread::spawn(move || pipe(s2, c2, f3));
            }
        });
        Self {
            port,
            down,
            frozen,
            open,
        }
    }

    /// Cuts every connection and refuses new ones until [`TcpProxy::up`].
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Drops every byte both ways, connections left open, until [`TcpProxy::thaw`].
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
