import { Controller, Get, Header } from '@nestjs/common';

/** `GET /v2/`: tells clients this is a V2 registry. */
@Controller('v2')
export class BaseController {
  @Get()
  @Header('Content-Type', 'application/json')
  check(): string {
    return '{}';
  }
}
