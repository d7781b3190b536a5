//! What the TIME_WAIT side sent back first: the answer every expectation,
//! rule and report speaks of, read off the segment that followed the event.

use super::segment::Segment;

/// What the server answered the segment that hit TIME_WAIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    SynAck,
    Ack,
    Rst,
    None,
}

impl serde::Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Answer {
    /// Every answer, in the order the scenario format lists them.
    pub const ALL: [Answer; 4] = [Answer::SynAck, Answer::Ack, Answer::Rst, Answer::None];

    pub const fn as_str(self) -> &'static str {
        match self {
            Answer::SynAck => "syn-ack",
            Answer::Ack => "ack",
            Answer::Rst => "rst",
            Answer::None => "none",
        }
    }

    /// The answer a scenario file names (`"syn-ack"`).
    pub fn parse(s: &str) -> Option<Answer> {
        Answer::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The answer that `seg`, the TIME_WAIT side's next segment, is.
    pub fn of(seg: Option<&Segment>) -> Answer {
        match seg {
            None => Answer::None,
            Some(s) if s.flags.rst => Answer::Rst,
            Some(s) if s.flags.syn && s.flags.ack => Answer::SynAck,
            Some(_) => Answer::Ack,
        }
    }
}
