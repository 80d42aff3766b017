"""drf-spectacular descriptions of our authentication classes (loaded by AccountsConfig)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class JWTBearerScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTBearerAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from the OpenID Connect provider (audience OIDC_API_AUDIENCE).",
        }
