import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { BerthConfig } from '@berth/config';
import { AccessGuard } from './access.guard.js';
import { AccessService } from './access.service.js';
import { AccountsModule } from './accounts/accounts.module.js';
import { CredentialService } from './credential.service.js';
import { FailedLoginService } from './failed-login.service.js';
import { JwtStrategy } from './jwt.strategy.js';
import { LoginFailureStore } from './login-failure.store.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { RepositoryAliases } from './repository-aliases.js';
import { RevocationService } from './revocation.service.js';
import { SigningKey } from './signing-key.js';
import { TokenController } from './token.controller.js';
import { TokenService } from './token.service.js';
import { VerifiedLogins } from './verified-logins.js';

/** Identities, accounts, permissions, tokens and the global guard that protects every route. */
@Global()
@Module({
  imports: [PassportModule, AccountsModule],
  controllers: [TokenController],
  providers: [
    { provide: SigningKey, inject: [BerthConfig], useFactory: (config: BerthConfig) => SigningKey.load(config) },
    TokenService,
    LoginThrottleService,
    FailedLoginService,
    LoginFailureStore,
    CredentialService,
    AccessService,
    JwtStrategy,
    RevocationService,
    VerifiedLogins,
    RepositoryAliases,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  exports: [AccessService, CredentialService, FailedLoginService, TokenService, VerifiedLogins, RepositoryAliases, AccountsModule],
})
export class AuthModule {}
