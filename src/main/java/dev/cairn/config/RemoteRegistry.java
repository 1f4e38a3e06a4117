package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.net.URI;
import java.util.Optional;

/**
 * Another registry this node talks to (a replication source, a mirror's upstream): its address, and the user and the
 * environment variable holding its password. A password is never written in the file, nor in the URL, where it
 * would end up in logs and metric labels.
 */
public record RemoteRegistry(URI url, Optional<String> user, Optional<String> passwordEnv) {

    /** {@code key} of {@code rule} (a mapping at {@code where}) and its {@code credentials: {user, password-env}}. */
    static RemoteRegistry parse(JsonNode rule, String where, String key) {
        URI url;
        try {
            url = URI.create(rule.path(key).asText(""));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(where + "." + key + ": not a URL: " + e.getMessage());
        }
        if (!("http".equals(url.getScheme()) || "https".equals(url.getScheme())) || url.getHost() == null
                || url.getRawUserInfo() != null || url.getRawQuery() != null || url.getRawFragment() != null
                || !(url.getRawPath() == null || url.getRawPath().isEmpty() || url.getRawPath().equals("/"))) {
            throw new ConfigException(where + "." + key + ": expected http(s)://host[:port] and nothing more (credentials go under "
                    + "'credentials'), got '" + rule.path(key).asText("") + "'");
        }
        JsonNode credentials = rule.path("credentials");
        if (!credentials.isMissingNode() && !credentials.isObject()) {
            throw new ConfigException(where + ".credentials: expected {user: NAME, password-env: VARIABLE}");
        }
        credentials.fieldNames().forEachRemaining(name -> {
            if (!name.equals("user") && !name.equals("password-env")) {
                throw new ConfigException(where + ".credentials: unknown key '" + name + "' (known: user, password-env; a password is "
                        + "never written in the file)");
            }
        });
        Optional<String> user = credentials.hasNonNull("user") ? Optional.of(credentials.get("user").asText()) : Optional.empty();
        Optional<String> passwordEnv = credentials.hasNonNull("password-env") ? Optional.of(credentials.get("password-env").asText()) : Optional.empty();
        return new RemoteRegistry(url, user, passwordEnv);
    }

    /** The password from its variable; empty without credentials; an error naming the variable when it is not set. */
    public String password(String forWhat) {
        return passwordEnv.map(name -> Optional.ofNullable(System.getenv(name)).orElseThrow(() -> new IllegalArgumentException(
                forWhat + ": the password variable " + name + " is not set"))).orElse("");
    }
}
