//! Token pricing and estimation. Pure functions, so the supervisor can reserve budget from an
//! estimate before a turn and settle it from the reported usage afterwards with the same math.

/// Cost in USD of one completion, with prices given per 1,000 tokens (the unit providers
/// publish). Negative or non-finite prices count as zero: a misconfigured price must not
/// credit money back to a budget.
pub fn cost_usd(
    prompt_tokens: u64,
    completion_tokens: u64,
    prompt_per_1k: f64,
    completion_per_1k: f64,
) -> f64 {
    let prompt_price = sane_price(prompt_per_1k);
    let completion_price = sane_price(completion_per_1k);
    // One division at the end keeps the rounding error to a single step.
    (prompt_tokens as f64 * prompt_price + completion_tokens as f64 * completion_price) / 1000.0
}

fn sane_price(price: f64) -> f64 {
    if price.is_finite() && price > 0.0 {
        price
    } else {
        0.0
    }
}

/// Rough token count for text when the provider reports no usage, or before a turn to
/// reserve budget: about four characters per token for Latin-script text, rounded up so an
/// estimate errs on the expensive side.
pub fn estimate_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    chars.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_typical_turn_costs_three_quarters_of_a_cent() {
        let cost = cost_usd(1000, 500, 0.0025, 0.01);
        assert!(close(cost, 0.0075), "{cost}");
        assert_eq!((cost * 100.0).round() / 100.0, 0.01, "to the cent");
        assert_eq!(format!("{cost:.6}"), "0.007500", "and beyond");
    }

    #[test]
    fn prompt_and_completion_are_priced_separately() {
        assert!(close(cost_usd(1000, 0, 0.03, 0.06), 0.03));
        assert!(close(cost_usd(0, 1000, 0.03, 0.06), 0.06));
        assert!(close(cost_usd(50, 20, 0.03, 0.06), 0.0015 + 0.0012));
    }

    #[test]
    fn zero_tokens_or_free_models_cost_nothing() {
        assert_eq!(cost_usd(0, 0, 0.0025, 0.01), 0.0);
        assert_eq!(cost_usd(1000, 1000, 0.0, 0.0), 0.0);
    }

    #[test]
    fn bad_prices_never_produce_negative_or_nan_costs() {
        assert_eq!(cost_usd(1000, 1000, -1.0, f64::NAN), 0.0);
        assert_eq!(cost_usd(1000, 1000, f64::INFINITY, 0.0), 0.0);
    }

    #[test]
    fn large_volumes_stay_exact_enough_for_monthly_budgets() {
        // A month of a busy agent: 2 billion prompt tokens at $0.0025/1k is $5,000.
        let cost = cost_usd(2_000_000_000, 0, 0.0025, 0.01);
        assert!((cost - 5000.0).abs() < 1e-6, "{cost}");
    }

    #[test]
    fn estimates_round_up_and_count_characters_not_bytes() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ação"), 1, "4 chars, 6 bytes");
    }
}
