package dev.cairn.config;

import java.util.Map;

/** Where each key's value came from: default, file, environment or flag. */
public record ConfigSources(Map<String, String> byKey) {
    public ConfigSources {
        byKey = Map.copyOf(byKey);
    }

    public String sourceOf(String key) {
        return byKey.getOrDefault(key, "default");
    }
}
