//! A small deterministic fuzzer for the parsers' unit tests: random strings
//! and argument lists over the characters and words that matter, and
//! mutations of good inputs. Deterministic, so a failure replays.

/// xorshift64: enough randomness to explore, the same sequence every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A string of up to `max` characters drawn from `alphabet`.
    pub fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }

    /// `seed` with a few characters inserted, replaced or removed.
    pub fn mutate(&mut self, seed: &str, alphabet: &[char]) -> String {
        let mut s: Vec<char> = seed.chars().collect();
        for _ in 0..=self.below(3) {
            let at = self.below(s.len() + 1);
            let c = alphabet[self.below(alphabet.len())];
            match self.below(3) {
                0 => s.insert(at, c),
                1 if at < s.len() => s[at] = c,
                _ if at < s.len() => {
                    s.remove(at);
                }
                _ => {}
            }
        }
        s.into_iter().collect()
    }

    /// A command line: `max` words drawn from `words`, some of them mutated.
    pub fn argv(&mut self, words: &[&str], alphabet: &[char], max: usize) -> Vec<std::ffi::OsString> {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| {
                let word = words[self.below(words.len())];
                if self.below(4) == 0 { self.mutate(word, alphabet).into() } else { word.into() }
            })
            .collect()
    }
}

/// Characters that make parsers stumble.
pub const NASTY: &[char] = &[
    '0', '1', '9', '-', '-', '=', ':', ',', '/', '.', ' ', '\t', '\n', '\0', 'a', 'M', 'K', 'x', '\'', '"', '\\', 'é',
    '\u{966}', '\u{202e}',
];
