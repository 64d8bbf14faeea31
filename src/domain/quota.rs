//! What a web-chat visitor may ask of one conversation a limited number of times.

/// A visitor request that costs the tenant something: an LLM summary, a booked meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitorRequest {
    Summary,
    Booking,
}

impl VisitorRequest {
    /// The stored name (`visitor_quotas.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            VisitorRequest::Summary => "summary",
            VisitorRequest::Booking => "booking",
        }
    }

    /// The sentence a visitor over the cap reads.
    pub fn over_cap_message(self, cap: u32) -> String {
        match self {
            VisitorRequest::Summary => {
                format!("this conversation already had its {cap} summaries")
            }
            VisitorRequest::Booking => {
                format!("this conversation already booked its {cap} meetings")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_stable() {
        assert_eq!(VisitorRequest::Summary.as_str(), "summary");
        assert_eq!(VisitorRequest::Booking.as_str(), "booking");
        assert!(VisitorRequest::Booking.over_cap_message(3).contains('3'));
    }
}
