// Portable schema shared by SQLite and PostgreSQL. Keep in step with migrations/*/up.sql:
// only portable SQL types (Text, BigInt, Integer, Double, Bool, Timestamp, Binary).

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    departments (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        max_conversations -> Integer,
        first_response_seconds -> Integer,
        categories -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        max_conversations -> Integer,
        specialties -> Text,
        department_ids -> Text,
        available -> Bool,
        presence -> Text,
        working_hours -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_version -> BigInt,
    }
}

diesel::table! {
    integrations (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        name -> Text,
        secret -> Nullable<Text>,
        base_url -> Nullable<Text>,
        api_key -> Nullable<Text>,
        instance -> Nullable<Text>,
        outbound_url -> Nullable<Text>,
        default_agent_id -> Nullable<Text>,
        default_department_id -> Nullable<Text>,
        enabled -> Bool,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        default_funnel_id -> Nullable<Text>,
        default_stage_id -> Nullable<Text>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        tenant_id -> Text,
        integration_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        is_vip -> Bool,
        tags -> Text,
        custom_fields -> Text,
        last_owner_type -> Nullable<Text>,
        last_owner_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    funnels (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stages (id) {
        id -> Text,
        tenant_id -> Text,
        funnel_id -> Text,
        name -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        color -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ai_agents (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        description -> Text,
        agent_type -> Text,
        emoji -> Text,
        system_prompt -> Text,
        model -> Text,
        temperature -> Double,
        max_tokens -> Integer,
        enabled -> Bool,
        status -> Text,
        max_conversations -> Integer,
        specialties -> Text,
        provider_kind -> Text,
        provider_base_url -> Nullable<Text>,
        provider_api_key -> Nullable<Text>,
        settings -> Text,
        limits -> Text,
        department_id -> Nullable<Text>,
        slug -> Nullable<Text>,
        wizard -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sub_agents (id) {
        id -> Text,
        tenant_id -> Text,
        agent_id -> Text,
        name -> Text,
        topics -> Text,
        system_prompt -> Text,
        model -> Nullable<Text>,
        is_active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tools (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        description -> Text,
        tool_type -> Text,
        parameters -> Text,
        config -> Text,
        timeout_ms -> Integer,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agent_tools (agent_id,tool_id) {
        agent_id -> Text,
        tool_id -> Text,
        tenant_id -> Text,
        config -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    conversations (id) {
        id -> Text,
        tenant_id -> Text,
        contact_id -> Text,
        integration_id -> Nullable<Text>,
        channel -> Text,
        status -> Text,
        owner_type -> Text,
        owner_id -> Nullable<Text>,
        priority -> Text,
        category -> Nullable<Text>,
        department_id -> Nullable<Text>,
        funnel_id -> Nullable<Text>,
        stage_id -> Nullable<Text>,
        tags -> Text,
        metadata -> Text,
        last_seq -> BigInt,
        answered_seq -> BigInt,
        customer_messages -> Integer,
        ai_replies -> Integer,
        escalation_reason -> Nullable<Text>,
        close_reason -> Nullable<Text>,
        queued_at -> Nullable<Timestamp>,
        assigned_at -> Nullable<Timestamp>,
        first_response_at -> Nullable<Timestamp>,
        last_message_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tool_state -> Text,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        tenant_id -> Text,
        conversation_id -> Text,
        seq -> BigInt,
        sender_type -> Text,
        sender_id -> Nullable<Text>,
        content -> Text,
        content_type -> Text,
        status -> Text,
        direction -> Text,
        integration_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ai_turns (id) {
        id -> Text,
        tenant_id -> Text,
        agent_id -> Text,
        sub_agent_id -> Nullable<Text>,
        conversation_id -> Nullable<Text>,
        model -> Text,
        provider -> Text,
        status -> Text,
        error_reason -> Nullable<Text>,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        cost_usd -> Double,
        latency_ms -> BigInt,
        retries -> Integer,
        tools_used -> Text,
        price_flagged -> Bool,
        tokens_saved -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    agent_request_windows (agent_id, window_kind, window_start) {
        agent_id -> Text,
        window_kind -> Text,
        window_start -> BigInt,
        requests -> BigInt,
    }
}

diesel::table! {
    usage_counters (agent_id, period, shard) {
        agent_id -> Text,
        period -> Text,
        shard -> Integer,
        tenant_id -> Text,
        requests -> BigInt,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        cost_usd -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    knowledge_documents (id) {
        id -> Text,
        tenant_id -> Text,
        agent_id -> Nullable<Text>,
        title -> Text,
        source_type -> Text,
        content -> Text,
        size_bytes -> BigInt,
        checksum -> Text,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    knowledge_chunks (id) {
        id -> Text,
        tenant_id -> Text,
        document_id -> Text,
        position -> Integer,
        heading -> Text,
        content -> Text,
        search_terms -> Text,
        embedding -> Nullable<Binary>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    memories (id) {
        id -> Text,
        tenant_id -> Text,
        contact_id -> Text,
        agent_id -> Nullable<Text>,
        kind -> Text,
        content -> Text,
        fingerprint -> Text,
        source_conversation_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    feedback_events (id) {
        id -> Text,
        tenant_id -> Text,
        conversation_id -> Text,
        message_id -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        kind -> Text,
        score -> Double,
        details -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        tenant_id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        tenant_id -> Text,
        webhook_id -> Text,
        event -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        latency_ms -> Nullable<BigInt>,
        response_excerpt -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        tenant_id -> Text,
        delivery_id -> Text,
        webhook_id -> Text,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    channel_deliveries (id) {
        id -> Text,
        tenant_id -> Text,
        integration_id -> Text,
        conversation_id -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    automations (id) {
        id -> Text,
        tenant_id -> Text,
        agent_id -> Nullable<Text>,
        name -> Text,
        intents -> Text,
        actions -> Text,
        priority -> Integer,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        tenant_id -> Text,
        contact_id -> Nullable<Text>,
        conversation_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        kind -> Text,
        title -> Text,
        description -> Text,
        due_at -> Nullable<Timestamp>,
        done -> Bool,
        data -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_events (id) {
        id -> Text,
        tenant_id -> Text,
        user_id -> Nullable<Text>,
        contact_id -> Nullable<Text>,
        conversation_id -> Nullable<Text>,
        title -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scheduled_timers (id) {
        id -> Text,
        tenant_id -> Text,
        conversation_id -> Text,
        kind -> Text,
        fire_at -> Timestamp,
        payload -> Text,
        fired -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    distribution_settings (tenant_id) {
        tenant_id -> Text,
        settings -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    visitor_quotas (conversation_id, kind) {
        conversation_id -> Text,
        kind -> Text,
        used -> BigInt,
    }
}

diesel::joinable!(knowledge_chunks -> knowledge_documents (document_id));

diesel::table! {
    assignment_counts (tenant_id, owner_id, shard) {
        tenant_id -> Text,
        owner_id -> Text,
        shard -> Integer,
        owner_type -> Text,
        assigned_total -> BigInt,
    }
}

// Departments as queues, private notes, canned responses (issue 16, items 2 and 3).
diesel::table! {
    conversation_notes (id) {
        id -> Text,
        tenant_id -> Text,
        conversation_id -> Text,
        author_id -> Text,
        kind -> Text,
        content -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> Text,
        tenant_id -> Text,
        user_id -> Nullable<Text>,
        shortcut -> Text,
        content -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    departments,
    users,
    integrations,
    contacts,
    funnels,
    stages,
    tags,
    ai_agents,
    sub_agents,
    tools,
    agent_tools,
    conversations,
    messages,
    ai_turns,
    usage_counters,
    knowledge_documents,
    knowledge_chunks,
    memories,
    feedback_events,
    webhooks,
    webhook_deliveries,
    webhook_attempts,
    channel_deliveries,
    automations,
    activities,
    calendar_events,
    scheduled_timers,
    distribution_settings,
    visitor_quotas,
    assignment_counts,
    agent_request_windows,
    conversation_notes,
    canned_responses,
);

// Run-time tenant settings and CSAT (issue 16, items 9 and 7): standalone tables, never joined.
diesel::table! {
    tenant_settings (tenant_id) {
        tenant_id -> Text,
        overrides -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    csat_ratings (conversation_id) {
        conversation_id -> Text,
        tenant_id -> Text,
        contact_id -> Text,
        owner_type -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        category -> Nullable<Text>,
        channel -> Text,
        asked_at -> Timestamp,
        expires_at -> Timestamp,
        rating -> Nullable<Integer>,
        rated_at -> Nullable<Timestamp>,
    }
}

// Ownership history (issue 16, item 8): standalone, read with raw SQL aggregates.
diesel::table! {
    ownership_spells (id) {
        id -> Text,
        tenant_id -> Text,
        conversation_id -> Text,
        owner_type -> Text,
        owner_id -> Text,
        department_id -> Nullable<Text>,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
    }
}
