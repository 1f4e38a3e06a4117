package dev.cairn.metadata;

/** What differs between the two databases; the SQL itself is shared. */
enum Dialect {
    SQLITE("TEXT", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    // "C" collation: tags and names sort by bytes, as the distribution spec's lexical order wants.
    POSTGRES("TEXT COLLATE \"C\"", "BYTEA", "BIGSERIAL PRIMARY KEY");

    final String text;
    final String blob;
    final String serial;

    Dialect(String text, String blob, String serial) {
        this.text = text;
        this.blob = blob;
        this.serial = serial;
    }
}
