"""Microsoft Entra sign-in: allauth's own Microsoft provider, with the ID token verified and
the account keyed by the token's immutable ``tid`` + ``oid`` (never by e-mail)."""
