//! A D-Bus client as small as systemd's transient units need: the wire
//! format (little-endian) for the types its Manager takes and returns,
//! EXTERNAL authentication over a unix socket, method calls, their replies,
//! and the signals a match lets through. Every length read is bounded.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use common::Error;

/// A value on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    U32(u32),
    U64(u64),
    Str(String),
    Path(String),
    Signature(String),
    /// The element type's signature, and the elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::U32(_) => "u".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Array(element, _) => format!("a{element}"),
            Value::Struct(fields) => format!("({})", fields.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    /// A property, as systemd's a(sv) holds it.
    pub fn property(name: &str, value: Value) -> Value {
        Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(value))])
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(n) => Some(*n),
            _ => None,
        }
    }
}

fn alignment(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b't' | b'x' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// The first complete type of `sig`, and the rest.
fn split_type(sig: &str) -> Result<(&str, &str), &'static str> {
    let bytes = sig.as_bytes();
    let end = match bytes.first() {
        None => return Err("an empty signature"),
        Some(b'a') => 1 + split_type(&sig[1..])?.0.len(),
        Some(open @ (b'(' | b'{')) => {
            let close = if *open == b'(' { b')' } else { b'}' };
            let mut depth = 0usize;
            let mut at = None;
            for (i, &b) in bytes.iter().enumerate() {
                if b == *open {
                    depth += 1;
                } else if b == close {
                    depth -= 1;
                    if depth == 0 {
                        at = Some(i + 1);
                        break;
                    }
                }
            }
            at.ok_or("an unclosed struct")?
        }
        Some(b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g' | b'v' | b'h') => 1,
        Some(_) => return Err("a type this client does not read"),
    };
    Ok(sig.split_at(end))
}

/// Marshalling into a buffer whose offset 0 is the message's start (alignment counts from there).
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, to: usize) {
        while !self.buf.len().is_multiple_of(to) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, n: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    fn text(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::U32(n) => self.u32(*n),
            Value::U64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::Str(s) | Value::Path(s) => self.text(s),
            Value::Signature(s) => self.signature(s),
            Value::Array(element, items) => {
                self.pad(4);
                let length_at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                self.pad(alignment(element.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for item in items {
                    self.value(item);
                }
                let length = (self.buf.len() - start) as u32;
                self.buf[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.value(f);
                }
            }
            Value::Variant(inner) => {
                self.signature(&inner.signature());
                self.value(inner);
            }
        }
    }
}

/// Unmarshalling, from `buf` whose offset 0 is the message's start.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

type Read2<T> = Result<T, &'static str>;

impl Reader<'_> {
    fn align(&mut self, to: usize) -> Read2<()> {
        let aligned = self.at.next_multiple_of(to);
        if aligned > self.buf.len() {
            return Err("a message cut short");
        }
        self.at = aligned;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Read2<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("a message cut short")?;
        let bytes = &self.buf[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u32(&mut self) -> Read2<u32> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, length: usize) -> Read2<String> {
        let bytes = self.take(length)?.to_vec();
        if self.take(1)? != [0] {
            return Err("a string without its NUL");
        }
        String::from_utf8(bytes).map_err(|_| "a string that is not UTF-8")
    }

    /// One value of the complete type `sig`; `depth` bounds nesting.
    fn value(&mut self, sig: &str, depth: usize) -> Read2<Value> {
        if depth > 32 {
            return Err("values nested too deep");
        }
        let code = sig.as_bytes().first().copied().ok_or("an empty signature")?;
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'u' | b'i' | b'h' => Value::U32(self.u32()?),
            b'n' | b'q' => {
                self.align(2)?;
                let b = self.take(2)?;
                Value::U32(u32::from(u16::from_le_bytes([b[0], b[1]])))
            }
            b't' | b'x' | b'd' => {
                self.align(8)?;
                let b = self.take(8)?;
                Value::U64(u64::from_le_bytes(b.try_into().map_err(|_| "a message cut short")?))
            }
            b's' | b'o' => {
                let n = self.u32()? as usize;
                let s = self.text(n)?;
                if code == b's' { Value::Str(s) } else { Value::Path(s) }
            }
            b'g' => {
                let n = usize::from(self.take(1)?[0]);
                Value::Signature(self.text(n)?)
            }
            b'v' => {
                let n = usize::from(self.take(1)?[0]);
                let inner = self.text(n)?;
                let (one, rest) = split_type(&inner)?;
                if !rest.is_empty() {
                    return Err("a variant of more than one type");
                }
                Value::Variant(Box::new(self.value(one, depth + 1)?))
            }
            b'a' => {
                let length = self.u32()? as usize;
                let element = split_type(&sig[1..])?.0;
                self.align(alignment(element.as_bytes()[0]))?;
                let end = self.at.checked_add(length).filter(|&e| e <= self.buf.len()).ok_or("an array cut short")?;
                let mut items = Vec::new();
                while self.at < end {
                    items.push(self.value(element, depth + 1)?);
                }
                Value::Array(element.to_owned(), items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let mut inner = &sig[1..sig.len() - 1];
                let mut fields = Vec::new();
                while !inner.is_empty() {
                    let (one, rest) = split_type(inner)?;
                    fields.push(self.value(one, depth + 1)?);
                    inner = rest;
                }
                Value::Struct(fields)
            }
            _ => return Err("a type this client does not read"),
        })
    }

    /// The values of signature `sig`, one after another.
    fn values(&mut self, mut sig: &str) -> Read2<Vec<Value>> {
        let mut out = Vec::new();
        while !sig.is_empty() {
            let (one, rest) = split_type(sig)?;
            out.push(self.value(one, 0)?);
            sig = rest;
        }
        Ok(out)
    }
}

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// A message, its header fields by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub body: Vec<Value>,
}

/// No message we take is larger (systemd's replies are small).
const MAX_MESSAGE: usize = 1 << 20;

impl Message {
    pub fn call(destination: &str, path: &str, interface: &str, member: &str, body: Vec<Value>) -> Self {
        Message {
            kind: METHOD_CALL,
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            destination: Some(destination.into()),
            body,
            ..Message::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Writer::default();
        // The body starts 8-aligned, so its alignment is the same counted from there.
        for v in &self.body {
            body.value(v);
        }
        let signature: String = self.body.iter().map(Value::signature).collect();
        let field = |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))]);
        let mut fields = Vec::new();
        let texts = [(1, &self.path, true), (2, &self.interface, false), (3, &self.member, false)];
        for (code, text, is_path) in texts {
            if let Some(t) = text {
                fields.push(field(code, if is_path { Value::Path(t.clone()) } else { Value::Str(t.clone()) }));
            }
        }
        if let Some(t) = &self.error_name {
            fields.push(field(4, Value::Str(t.clone())));
        }
        if let Some(n) = self.reply_serial {
            fields.push(field(5, Value::U32(n)));
        }
        if let Some(t) = &self.destination {
            fields.push(field(6, Value::Str(t.clone())));
        }
        if !signature.is_empty() {
            fields.push(field(8, Value::Signature(signature)));
        }
        let mut w = Writer::default();
        w.buf.extend_from_slice(&[b'l', self.kind, 0, 1]);
        w.u32(body.buf.len() as u32);
        w.u32(self.serial);
        w.value(&Value::Array("(yv)".into(), fields));
        w.pad(8);
        w.buf.extend_from_slice(&body.buf);
        w.buf
    }

    /// The whole length of the message `head` (its first 16 bytes) starts.
    fn length(head: &[u8; 16]) -> Result<usize, &'static str> {
        if head[0] != b'l' {
            return Err("a big-endian message");
        }
        let body = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let fields = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
        let total = (16 + fields).next_multiple_of(8) + body;
        if total > MAX_MESSAGE { Err("a message larger than 1 MiB") } else { Ok(total) }
    }

    pub fn decode(buf: &[u8]) -> Result<Self, &'static str> {
        let mut r = Reader { buf, at: 0 };
        let head = r.take(4)?;
        let (kind, _flags) = (head[1], head[2]);
        let body_length = r.u32()? as usize;
        let serial = r.u32()?;
        let Value::Array(_, fields) = r.value("a(yv)", 0)? else { return Err("no header fields") };
        let mut m = Message { kind, serial, ..Message::default() };
        let mut signature = String::new();
        for f in fields {
            let Value::Struct(pair) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (pair.first(), pair.get(1)) else { continue };
            let text = v.as_str().map(str::to_owned);
            match code {
                1 => m.path = text,
                2 => m.interface = text,
                3 => m.member = text,
                4 => m.error_name = text,
                5 => m.reply_serial = v.as_u32(),
                6 => m.destination = text,
                8 => signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        r.align(8)?;
        if r.buf.len() - r.at != body_length {
            return Err("a body of another length than its header says");
        }
        m.body = r.values(&signature)?;
        Ok(m)
    }
}

/// A connection to a bus, authenticated, its Hello said.
pub struct Bus {
    stream: UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply, for `wait_signal`.
    queued: Vec<Message>,
}

/// Where the system bus is: DBUS_SYSTEM_BUS_ADDRESS, else its well-known socket.
pub fn system_bus() -> Result<PathBuf, Error> {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(address) => socket_of(&address),
        Err(_) => Ok(PathBuf::from("/run/dbus/system_bus_socket")),
    }
}

/// Where the user's own bus is: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.
pub fn user_bus() -> Result<PathBuf, Error> {
    if let Ok(address) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        return socket_of(&address);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => Ok(PathBuf::from(dir).join("bus")),
        None => Err(Error::new(
            "cannot find",
            "the user's bus",
            "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set",
        )),
    }
}

/// The unix socket path of a bus `address` (its first `unix:path=` entry).
pub fn socket_of(address: &str) -> Result<PathBuf, Error> {
    address
        .split(';')
        .filter_map(|entry| entry.strip_prefix("unix:"))
        .flat_map(|params| params.split(','))
        .find_map(|kv| kv.strip_prefix("path="))
        .map(PathBuf::from)
        .ok_or_else(|| Error::new("cannot use", common::error::quoted(address), "no unix:path= in the bus address"))
}

impl Bus {
    pub fn connect(socket: &Path) -> Result<Self, Error> {
        let failed = |e: std::io::Error| Error::new("cannot reach", socket.display(), common::io_reason(&e));
        let mut stream = UnixStream::connect(socket).map_err(failed)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).map_err(failed)?;
        // The bus knows us by our uid outside a user namespace we may be in (rootless
        // podman runs its runtime as root of one), as the kernel tells it.
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        let uid = common::userns::outward(&map, uid).unwrap_or(uid);
        let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
        stream.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes()).map_err(failed)?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 || stream.read(&mut byte).map_err(failed)? == 0 {
                return Err(Error::new("cannot authenticate to", socket.display(), "the bus ended the line"));
            }
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            let said = String::from_utf8_lossy(&line).trim().to_owned();
            return Err(Error::new("cannot authenticate to", socket.display(), format!("the bus said {said:?}")));
        }
        stream.write_all(b"BEGIN\r\n").map_err(failed)?;
        let mut bus = Bus { stream, serial: 0, queued: Vec::new() };
        bus.call(Message::call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            vec![],
        ))?;
        Ok(bus)
    }

    fn send(&mut self, mut m: Message) -> Result<u32, Error> {
        self.serial += 1;
        m.serial = self.serial;
        self.stream
            .write_all(&m.encode())
            .map_err(|e| Error::new("cannot write to", "the bus", common::io_reason(&e)))?;
        Ok(m.serial)
    }

    fn receive(&mut self) -> Result<Message, Error> {
        let failed = |e: std::io::Error| Error::new("cannot read from", "the bus", common::io_reason(&e));
        let mut head = [0u8; 16];
        self.stream.read_exact(&mut head).map_err(failed)?;
        let bad = |why: &str| Error::new("cannot read from", "the bus", why.to_owned());
        let total = Message::length(&head).map_err(bad)?;
        let mut buf = head.to_vec();
        buf.resize(total, 0);
        self.stream.read_exact(&mut buf[16..]).map_err(failed)?;
        Message::decode(&buf).map_err(bad)
    }

    /// Call a method and return its reply's body; an error reply is an Error naming it.
    pub fn call(&mut self, m: Message) -> Result<Vec<Value>, Error> {
        let what = format!("{}.{}", m.interface.clone().unwrap_or_default(), m.member.clone().unwrap_or_default());
        let serial = self.send(m)?;
        loop {
            let reply = self.receive()?;
            match reply.kind {
                METHOD_RETURN if reply.reply_serial == Some(serial) => return Ok(reply.body),
                ERROR if reply.reply_serial == Some(serial) => {
                    let name = reply.error_name.unwrap_or_default();
                    let text = reply.body.first().and_then(Value::as_str).unwrap_or_default().to_owned();
                    return Err(Error::new(format!("{what} failed"), name, text));
                }
                SIGNAL => self.queued.push(reply),
                _ => {}
            }
        }
    }

    /// The first signal `pick` takes (those read before included), and its result.
    pub fn wait_signal<T>(&mut self, mut pick: impl FnMut(&Message) -> Option<T>) -> Result<T, Error> {
        let queued = std::mem::take(&mut self.queued);
        if let Some(found) = queued.iter().find_map(&mut pick) {
            return Ok(found);
        }
        loop {
            let m = self.receive()?;
            if m.kind == SIGNAL
                && let Some(found) = pick(&m)
            {
                return Ok(found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_encodes_as_the_specification_lays_it_out() {
        let mut m =
            Message::call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", vec![]);
        m.serial = 1;
        let bytes = m.encode();
        assert_eq!(&bytes[..4], b"l\x01\x00\x01");
        assert_eq!(&bytes[4..8], &0u32.to_le_bytes(), "no body");
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn systemds_start_transient_unit_round_trips() {
        let properties = Value::Array(
            "(sv)".into(),
            vec![
                Value::property("Delegate", Value::Bool(true)),
                Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(4242)])),
                Value::property("MemoryMax", Value::U64(1 << 28)),
                Value::property("AllowedCPUs", Value::Array("y".into(), vec![Value::Byte(0b101)])),
                Value::property("DeviceAllow", Value::Array("(ss)".into(), vec![])),
            ],
        );
        let aux = Value::Array("(sa(sv))".into(), vec![]);
        let body = vec![Value::Str("nsrun-c1.scope".into()), Value::Str("fail".into()), properties, aux];
        let mut m = Message::call(
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            body,
        );
        m.serial = 7;
        let bytes = m.encode();
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.body.iter().map(Value::signature).collect::<String>(), "ssa(sv)a(sa(sv))");
    }

    #[test]
    fn signatures_split_into_complete_types() {
        assert_eq!(split_type("a(sv)s"), Ok(("a(sv)", "s")));
        assert_eq!(split_type("(s(ay)u)t"), Ok(("(s(ay)u)", "t")));
        assert_eq!(split_type("a{sv}"), Ok(("a{sv}", "")));
        assert!(split_type("(su").is_err());
        assert!(split_type("").is_err());
    }

    #[test]
    fn hostile_messages_are_refused_not_trusted() {
        let mut m = Message::call("a.b", "/a", "a.b", "C", vec![Value::Str("x".into())]);
        m.serial = 1;
        let bytes = m.encode();
        for cut in [0, 3, 15, bytes.len() - 1] {
            assert!(Message::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // An array that claims more than there is, a deep nest, a huge length.
        let mut long = bytes.clone();
        let at = long.len() - 6;
        long[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Message::decode(&long).is_err());
        let deep = format!("{}u", "a".repeat(40));
        let lengths: Vec<u8> = std::iter::repeat_n([4, 0, 0, 0], 64).flatten().collect();
        let mut r = Reader { buf: &lengths, at: 0 };
        assert!(r.value(&deep, 0).is_err());
        let mut head = [0u8; 16];
        head[0] = b'l';
        head[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Message::length(&head).is_err());
    }

    #[test]
    fn bus_addresses_name_their_socket() {
        assert_eq!(
            socket_of("unix:path=/run/dbus/system_bus_socket").unwrap(),
            PathBuf::from("/run/dbus/system_bus_socket")
        );
        assert_eq!(
            socket_of("unix:abstract=x;unix:guid=1,path=/run/user/1000/bus").unwrap(),
            PathBuf::from("/run/user/1000/bus")
        );
        assert!(socket_of("tcp:host=localhost,port=1").is_err());
    }
}
