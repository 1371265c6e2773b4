import { Controller, Get, Header } from '@nestjs/common';
import { RegistryAccess } from '@berth/auth';

/** `GET /v2/`: tells clients this is a V2 registry. */
@Controller('v2')
export class BaseController {
  @Get()
  @RegistryAccess('base')
  @Header('Content-Type', 'application/json')
  check(): string {
    return '{}';
  }
}
