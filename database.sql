-- aihelper: schema for a fresh MySQL 8 / MariaDB 10.11 database (utf8mb4, InnoDB).
--
--   mysql -u root -p -e "CREATE DATABASE ai CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
--   mysql -u root -p ai < database.sql
--
-- The same schema is created by `flask --app app init-db` (or on first start) from the migrations
-- in migrations/; tests/test_schema.py proves the two agree, column by column. No accounts are
-- seeded: the first account registered becomes the admin, or use `flask --app app create-admin`.
-- The alembic_version row lets `flask --app app db upgrade` take this database forward later.

SET NAMES utf8mb4;

CREATE TABLE IF NOT EXISTS `users` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `username` varchar(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `username_key` varchar(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `password_hash` varchar(255) NOT NULL,
  `avatar` varchar(255) DEFAULT NULL,
  `is_admin` tinyint(1) NOT NULL,
  `status` varchar(16) NOT NULL,
  `message_count` int(11) NOT NULL,
  `create_time` datetime NOT NULL,
  `last_login` datetime DEFAULT NULL,
  `login_limits_reset` datetime DEFAULT NULL,
  `quota_tokens_per_day` bigint(20) DEFAULT NULL,
  `quota_tokens_per_month` bigint(20) DEFAULT NULL,
  `quota_messages_per_day` int(11) DEFAULT NULL,
  `quota_cost_per_month` decimal(18,8) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_users_username_key` (`username_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `login_sessions` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `user_id` int(11) NOT NULL,
  `token_hash` varchar(64) NOT NULL,
  `create_time` datetime NOT NULL,
  `last_seen` datetime NOT NULL,
  `ip` varchar(45) DEFAULT NULL,
  `user_agent` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_login_sessions_token_hash` (`token_hash`),
  KEY `ix_login_sessions_user_id` (`user_id`),
  CONSTRAINT `fk_login_sessions_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `app_settings` (
  `key` varchar(64) NOT NULL,
  `value` text NOT NULL,
  PRIMARY KEY (`key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `api_providers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(100) NOT NULL,
  `base_url` varchar(500) NOT NULL,
  `api_key` text DEFAULT NULL,
  `description` text DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `create_time` datetime NOT NULL,
  `update_time` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_api_providers_name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `model_configs` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `provider_id` int(11) NOT NULL,
  `model_id` varchar(100) NOT NULL,
  `model_name` varchar(100) NOT NULL,
  `description` text DEFAULT NULL,
  `max_tokens` int(11) NOT NULL,
  `temperature` float NOT NULL,
  `system_prompt` text DEFAULT NULL,
  `context_messages` int(11) NOT NULL,
  `status` varchar(16) NOT NULL,
  `sort_order` int(11) NOT NULL,
  `create_time` datetime NOT NULL,
  `update_time` datetime NOT NULL,
  `price_input` decimal(18,8) NOT NULL,
  `price_output` decimal(18,8) NOT NULL,
  `currency` varchar(8) NOT NULL,
  `vision` tinyint(1) NOT NULL,
  `context_window` int(11) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_model_configs_provider_id_model_id` (`provider_id`,`model_id`),
  CONSTRAINT `fk_model_configs_provider_id_api_providers` FOREIGN KEY (`provider_id`) REFERENCES `api_providers` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `presets` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `user_id` int(11) NOT NULL,
  `scope` varchar(16) NOT NULL,
  `name` varchar(100) NOT NULL,
  `system_prompt` mediumtext NOT NULL,
  `model_config_id` int(11) DEFAULT NULL,
  `temperature` float DEFAULT NULL,
  `first_message` mediumtext DEFAULT NULL,
  `create_time` datetime NOT NULL,
  `update_time` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `fk_presets_model_config_id_model_configs` (`model_config_id`),
  KEY `ix_presets_user_id` (`user_id`),
  KEY `ix_presets_scope` (`scope`),
  CONSTRAINT `fk_presets_model_config_id_model_configs` FOREIGN KEY (`model_config_id`) REFERENCES `model_configs` (`id`) ON DELETE SET NULL,
  CONSTRAINT `fk_presets_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `chat_sessions` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `session_id` varchar(64) NOT NULL,
  `user_id` int(11) NOT NULL,
  `title` varchar(200) NOT NULL,
  `model_id` varchar(100) DEFAULT NULL,
  `model_config_id` int(11) DEFAULT NULL,
  `pinned` tinyint(1) NOT NULL,
  `create_time` datetime NOT NULL,
  `update_time` datetime NOT NULL,
  `origin_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,
  `selected_leaf_id` bigint(20) DEFAULT NULL,
  `preset_id` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_chat_sessions_session_id` (`session_id`),
  UNIQUE KEY `uq_chat_sessions_user_id_origin_id` (`user_id`,`origin_id`),
  KEY `fk_chat_sessions_model_config_id_model_configs` (`model_config_id`),
  KEY `ix_chat_sessions_user_id_update_time` (`user_id`,`update_time`),
  CONSTRAINT `fk_chat_sessions_model_config_id_model_configs` FOREIGN KEY (`model_config_id`) REFERENCES `model_configs` (`id`) ON DELETE SET NULL,
  CONSTRAINT `fk_chat_sessions_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `ai_chat_messages` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `session_id` varchar(64) NOT NULL,
  `user_id` int(11) NOT NULL,
  `role` varchar(20) NOT NULL,
  `content` mediumtext NOT NULL,
  `reasoning` mediumtext DEFAULT NULL,
  `timestamp` datetime NOT NULL,
  `status` varchar(16) NOT NULL,
  `model_id` varchar(100) DEFAULT NULL,
  `finish_reason` varchar(20) DEFAULT NULL,
  `prompt_tokens` int(11) DEFAULT NULL,
  `completion_tokens` int(11) DEFAULT NULL,
  `client_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,
  `error_code` varchar(32) DEFAULT NULL,
  `generation_ms` int(11) DEFAULT NULL,
  `lease_until` datetime DEFAULT NULL,
  `usage_estimated` tinyint(1) NOT NULL,
  `cost` decimal(18,8) DEFAULT NULL,
  `currency` varchar(8) DEFAULT NULL,
  `attachment_count` int(11) NOT NULL,
  `parent_id` bigint(20) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_ai_chat_messages_user_id_client_id` (`user_id`,`client_id`),
  KEY `ix_ai_chat_messages_session_id_id` (`session_id`,`id`),
  KEY `ix_ai_chat_messages_user_id_timestamp` (`user_id`,`timestamp`),
  KEY `ix_ai_chat_messages_lease_until` (`lease_until`),
  CONSTRAINT `fk_ai_chat_messages_session_id_chat_sessions` FOREIGN KEY (`session_id`) REFERENCES `chat_sessions` (`session_id`) ON DELETE CASCADE,
  CONSTRAINT `fk_ai_chat_messages_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What the keys cost, by UTC day, user and model (aihelper/models/usage.py).
CREATE TABLE IF NOT EXISTS `usage_daily` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `day` date NOT NULL,
  `user_id` int(11) NOT NULL,
  `model_id` varchar(100) NOT NULL,
  `messages` int(11) NOT NULL,
  `prompt_tokens` bigint(20) NOT NULL,
  `completion_tokens` bigint(20) NOT NULL,
  `cost` decimal(18,8) NOT NULL,
  `currency` varchar(8) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_usage_daily_day_user_id_model_id_currency` (`day`,`user_id`,`model_id`,`currency`),
  KEY `ix_usage_daily_user_id_day` (`user_id`,`day`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Groups of users, the models they open and their quotas (aihelper/models/organisation.py).
CREATE TABLE IF NOT EXISTS `user_groups` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(50) NOT NULL,
  `description` text DEFAULT NULL,
  `create_time` datetime NOT NULL,
  `quota_tokens_per_day` bigint(20) DEFAULT NULL,
  `quota_tokens_per_month` bigint(20) DEFAULT NULL,
  `quota_messages_per_day` int(11) DEFAULT NULL,
  `quota_cost_per_month` decimal(18,8) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_user_groups_name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `user_group_members` (
  `group_id` int(11) NOT NULL,
  `user_id` int(11) NOT NULL,
  PRIMARY KEY (`group_id`,`user_id`),
  KEY `ix_user_group_members_user_id` (`user_id`),
  CONSTRAINT `fk_user_group_members_group_id_user_groups` FOREIGN KEY (`group_id`) REFERENCES `user_groups` (`id`) ON DELETE CASCADE,
  CONSTRAINT `fk_user_group_members_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `model_group_access` (
  `model_config_id` int(11) NOT NULL,
  `group_id` int(11) NOT NULL,
  PRIMARY KEY (`model_config_id`,`group_id`),
  KEY `ix_model_group_access_group_id` (`group_id`),
  CONSTRAINT `fk_model_group_access_group_id_user_groups` FOREIGN KEY (`group_id`) REFERENCES `user_groups` (`id`) ON DELETE CASCADE,
  CONSTRAINT `fk_model_group_access_model_config_id_model_configs` FOREIGN KEY (`model_config_id`) REFERENCES `model_configs` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `preset_groups` (
  `preset_id` int(11) NOT NULL,
  `group_id` int(11) NOT NULL,
  PRIMARY KEY (`preset_id`,`group_id`),
  KEY `ix_preset_groups_group_id` (`group_id`),
  CONSTRAINT `fk_preset_groups_group_id_user_groups` FOREIGN KEY (`group_id`) REFERENCES `user_groups` (`id`) ON DELETE CASCADE,
  CONSTRAINT `fk_preset_groups_preset_id_presets` FOREIGN KEY (`preset_id`) REFERENCES `presets` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Files sent with questions (aihelper/models/attachment.py); the files are in the attachments folder.
CREATE TABLE IF NOT EXISTS `attachments` (
  `id` varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `user_id` int(11) NOT NULL,
  `message_id` bigint(20) DEFAULT NULL,
  `kind` varchar(16) NOT NULL,
  `name` varchar(255) NOT NULL,
  `media_type` varchar(100) NOT NULL,
  `size` int(11) NOT NULL,
  `sha256` varchar(64) NOT NULL,
  `storage_name` varchar(64) NOT NULL,
  `text` mediumtext NOT NULL,
  `sent_chars` int(11) DEFAULT NULL,
  `position` int(11) NOT NULL,
  `create_time` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_attachments_storage_name` (`storage_name`),
  KEY `ix_attachments_user_id_message_id` (`user_id`,`message_id`),
  KEY `ix_attachments_message_id` (`message_id`),
  CONSTRAINT `fk_attachments_message_id_ai_chat_messages` FOREIGN KEY (`message_id`) REFERENCES `ai_chat_messages` (`id`) ON DELETE CASCADE,
  CONSTRAINT `fk_attachments_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who did what to the instance (aihelper/models/audit.py).
CREATE TABLE IF NOT EXISTS `audit_log` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `time` datetime NOT NULL,
  `actor_id` int(11) DEFAULT NULL,
  `actor_name` varchar(64) NOT NULL,
  `ip` varchar(45) DEFAULT NULL,
  `action` varchar(64) NOT NULL,
  `kind` varchar(16) NOT NULL,
  `target` varchar(200) NOT NULL,
  `changes` mediumtext NOT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_audit_log_action_id` (`action`,`id`),
  KEY `ix_audit_log_kind_id` (`kind`,`id`),
  KEY `ix_audit_log_actor_id_id` (`actor_id`,`id`),
  KEY `ix_audit_log_actor_name_id` (`actor_name`,`id`),
  KEY `ix_audit_log_time` (`time`),
  CONSTRAINT `fk_audit_log_actor_id_users` FOREIGN KEY (`actor_id`) REFERENCES `users` (`id`) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The search index (aihelper/services/search.py): each message's search terms under FULLTEXT.
CREATE TABLE IF NOT EXISTS `message_search` (
  `message_id` bigint(20) NOT NULL,
  `terms` mediumtext NOT NULL,
  PRIMARY KEY (`message_id`),
  FULLTEXT KEY `ft_message_search_terms` (`terms`),
  CONSTRAINT `fk_message_search_message_id_ai_chat_messages` FOREIGN KEY (`message_id`) REFERENCES `ai_chat_messages` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Read-only snapshots of conversations behind unguessable links (aihelper/models/share.py).
CREATE TABLE IF NOT EXISTS `shared_links` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `share_id` varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `user_id` int(11) NOT NULL,
  `session_id` varchar(64) NOT NULL,
  `title` varchar(200) NOT NULL,
  `author_name` varchar(64) DEFAULT NULL,
  `snapshot` mediumtext NOT NULL,
  `snapshot_bytes` int(11) NOT NULL,
  `message_count` int(11) NOT NULL,
  `created_at` datetime NOT NULL,
  `expires_at` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_shared_links_share_id` (`share_id`),
  KEY `ix_shared_links_user_id_id` (`user_id`,`id`),
  KEY `ix_shared_links_session_id` (`session_id`),
  CONSTRAINT `fk_shared_links_session_id_chat_sessions` FOREIGN KEY (`session_id`) REFERENCES `chat_sessions` (`session_id`) ON DELETE CASCADE,
  CONSTRAINT `fk_shared_links_user_id_users` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `alembic_version` (
  `version_num` varchar(32) NOT NULL,
  PRIMARY KEY (`version_num`)
) ENGINE=InnoDB;
INSERT INTO `alembic_version` (`version_num`) VALUES ('e8b4d6f2a1c9');
