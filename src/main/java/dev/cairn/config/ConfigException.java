package dev.cairn.config;

/** A configuration Cairn refuses to start with; the message names the key and what is wrong. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
