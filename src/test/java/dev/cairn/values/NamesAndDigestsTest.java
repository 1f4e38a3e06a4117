package dev.cairn.values;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NamesAndDigestsTest {
    @ParameterizedTest
    @ValueSource(strings = {"a", "app", "team/app/cache", "a.b", "a_b", "a__b", "a--b", "a-b-c/d.e_f", "0/1"})
    void validRepositoryNames(String name) {
        assertThat(RepositoryName.of(name).value()).isEqualTo(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "A", "a/", "/a", "a//b", "a/../b", "..", "a/./b", "-a", "a-", "a___b", "a.-b", "a b", "a/B", "ä"})
    void invalidRepositoryNames(String name) {
        assertThatThrownBy(() -> RepositoryName.of(name)).isInstanceOfSatisfying(Refusal.class,
                e -> assertThat(e.reason()).isEqualTo(Refusal.Reason.INVALID_REPOSITORY_NAME));
    }

    @Test
    void repositoryNamesAreLimitedTo255Characters() {
        String name255 = "a".repeat(127) + "/" + "b".repeat(127);
        assertThat(RepositoryName.of(name255).value()).hasSize(255);
        assertThatThrownBy(() -> RepositoryName.of(name255 + "c")).isInstanceOf(Refusal.class);
    }

    @Test
    void digestsParseAndVerifyTheirShape() {
        Digest d = Digest.parse("sha256:" + "a".repeat(64));
        assertThat(d.algorithm()).isEqualTo("sha256");
        assertThat(d.toString()).isEqualTo("sha256:" + "a".repeat(64));
        assertThat(Digest.parse("sha512:" + "0".repeat(128)).algorithm()).isEqualTo("sha512");
        assertThat(Digest.sha256(new byte[0]).toString())
                .isEqualTo("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sha256:" + "A0000000000000000000000000000000000000000000000000000000000000000",
            "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256", "sha256:", ":abc", "SHA256:" + "a",
            "sha256:" + "g000000000000000000000000000000000000000000000000000000000000000", "sha512:" + "0"})
    void malformedDigestsAreRefusedAsInvalidDigests(String text) {
        assertThatThrownBy(() -> Digest.parse(text)).isInstanceOfSatisfying(Refusal.class,
                e -> assertThat(e.reason()).isEqualTo(Refusal.Reason.INVALID_DIGEST));
    }

    @Test
    void referencesAreTagsUnlessTheyHaveAColon() {
        assertThat(Reference.parse("latest")).isInstanceOf(Reference.ByTag.class);
        assertThat(Reference.parse("a".repeat(64))).isInstanceOf(Reference.ByTag.class);
        assertThat(Reference.parse("sha256:" + "b".repeat(64))).isInstanceOf(Reference.ByDigest.class);
        assertThatThrownBy(() -> Reference.parse("sha256:nope")).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> Reference.parse(".hidden")).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> Reference.parse("t".repeat(129))).isInstanceOf(Refusal.class);
        assertThat(Reference.parse("t".repeat(128))).isInstanceOf(Reference.ByTag.class);
    }
}
