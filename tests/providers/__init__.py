"""Tests of the model providers: adapters over real SDKs and fake vendor servers, the registry."""
